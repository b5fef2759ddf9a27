"""The fault matrix (docs/reliability.md): each fault found under attack (issue 15) and the tests that
prove it handled. This test keeps the table honest: every test it names exists, and the document
lists every row."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MATRIX: dict[str, list[str]] = {
    "torn spool line / full disk stops the turn log": [
        "tests/turnlog/test_spool.py::test_a_spool_truncated_at_every_offset_of_its_last_record_replays_everything_before_it",
        "tests/turnlog/test_spool.py::test_a_legacy_json_lines_spool_cut_inside_a_character_still_replays",
        "tests/turnlog/test_spool.py::test_a_full_disk_leaves_no_torn_record_behind",
        "tests/turnlog/test_writer.py::test_a_torn_spool_tail_does_not_keep_the_writer_spooling",
        "tests/turnlog/test_writer.py::test_a_spooled_row_the_database_refuses_is_set_aside_and_the_rest_replayed",
        "tests/turnlog/test_writer.py::test_rows_lost_to_a_full_disk_are_dropped_and_reported",
        "tests/turnlog/test_logger.py::test_rows_the_spool_cannot_take_are_counted_dropped_and_reported",
    ],
    "retries with Redis down file several tickets, citizen not told": [
        "tests/faults/test_idempotent_side_effects.py::test_concurrent_retries_with_the_store_down_file_one_ticket_and_tell_its_number",
        "tests/faults/test_idempotent_side_effects.py::test_under_load_with_the_store_down_every_delivery_is_answered_logged_once_and_files_once",
        "tests/db/test_tickets.py::test_concurrent_retries_of_one_delivery_file_one_ticket_and_burn_no_number",
        "tests/db/test_bookings.py::test_a_retried_delivery_gets_its_booking_back_not_a_second_seat_or_a_refusal",
    ],
    "unsubscribe during a Redis outage erases nothing": [
        "tests/app/test_erasure.py::test_unsubscribe_with_the_store_down_erases_now_and_deletes_the_session_when_it_returns",
    ],
    "replay inside the timestamp window processed again": [
        "tests/app/test_replay.py::test_the_same_signed_delivery_resent_after_the_dedup_record_expired_is_not_processed_again",
    ],
    "masking misses separators": [
        "tests/turnlog/test_privacy.py::test_numbers_written_with_dots_underscores_or_odd_grouping_are_masked",
        "tests/turnlog/test_privacy.py::test_no_mobile_number_survives_whatever_separates_its_digits",
        "tests/turnlog/test_privacy.py::test_no_resident_id_survives_whatever_separates_its_digits",
        "tests/turnlog/test_privacy.py::test_no_card_number_survives_whatever_separates_its_digits",
    ],
    "tickets keep identity numbers and survive unsubscribe": [
        "tests/app/test_services.py::test_ticket_fields_never_keep_identity_numbers_but_keep_the_contact_mobile",
        "tests/turnlog/test_ticket_erasure.py::test_a_leaving_users_closed_tickets_are_erased_and_open_ones_kept_for_staff",
        "tests/turnlog/test_ticket_erasure.py::test_an_open_ticket_of_a_user_who_left_is_erased_once_it_is_closed",
    ],
    "a Redis blip leaves a user locked; blank success": [
        "tests/app/test_locks.py::test_a_lock_left_behind_costs_the_next_message_no_answer",
        "tests/app/test_locks.py::test_the_lock_lease_is_on_the_order_of_the_reply_deadline",
        "tests/faults/test_store_breaker.py::test_an_unlock_that_failed_is_retried_when_redis_answers_again",
    ],
    "admin token in the query string": [
        "tests/app/test_admin_auth.py::test_reload_refuses_a_token_in_the_query_string",
        "tests/app/test_admin_auth.py::test_the_dashboard_takes_the_query_token_once_then_its_cookie",
        "tests/ops/test_router.py::test_window_links_never_carry_the_admin_token",
        "tests/ops/test_router.py::test_the_dashboard_sends_no_referrer_and_a_strict_content_policy",
    ],
    "client disconnects logged as 500; no body deadline": [
        "tests/app/test_disconnects.py::test_a_client_gone_mid_body_is_a_499_info_line_without_a_traceback",
        "tests/app/test_disconnects.py::test_a_body_that_never_arrives_is_cut_off_at_the_read_deadline",
    ],
    "/metrics without authentication": [
        "tests/app/test_metrics_auth.py::test_metrics_need_the_scrape_token_when_one_is_set",
    ],
    "rate-limit reply promises what does not happen; clicks unlimited": [
        "tests/app/test_callback.py::test_the_rate_limit_reply_says_the_message_was_not_handled",
        "tests/app/test_callback.py::test_menu_clicks_count_against_the_rate_limit_but_leaving_never_does",
    ],
    "kill -HUP restarts the workers": [
        "tests/app/cli/test_serve_hup.py::test_hup_on_the_master_reloads_every_worker_without_restarting_one",
    ],
    "twelve Redis commands per delivery": [
        "tests/app/test_round_trips.py::test_a_delivery_costs_two_redis_round_trips",
        "tests/stores/test_turn_ops.py::test_finish_never_overwrites_a_late_mark",
    ],
    "suite needs the shared folder beside the repo": [
        "tests/test_self_contained.py::test_no_test_reads_the_shared_folder_beside_the_repo",
    ],
}


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_the_matrix_names_exists() -> None:
    missing = []
    for tests in MATRIX.values():
        for node in tests:
            file, name = node.split("::")
            if name not in _functions(ROOT / file):
                missing.append(node)
    assert missing == []


def test_the_reliability_document_lists_every_fault_and_test() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    absent = [name for tests in MATRIX.values() for name in (t.split("::")[1] for t in tests) if name not in doc]
    assert absent == []
