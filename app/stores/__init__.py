"""Storage behind one small interface (`Store`), with in-process and Redis implementations."""
