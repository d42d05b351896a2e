"""Where the job keeps what outlives a run: the lock, the ledger, the alert state."""
