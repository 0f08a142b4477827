"""Development tooling: the embedded PostgreSQL, the migrations runner and the command line."""
