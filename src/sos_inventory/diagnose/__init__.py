"""What failed and why: console logs read against the runbook, causes over time, network facts."""
