"""The staff desk (issue 17): logins, the ticket queue and page, replies to the citizen, audit."""
