"""Turn handlers: pure functions from a typed inbound message and a session to a reply.

Nothing in this package touches HTTP, Redis or the database; I/O the handlers need
(tickets, backend look-ups) goes through the ports in `handlers.ports`, which `app/` implements.
"""
