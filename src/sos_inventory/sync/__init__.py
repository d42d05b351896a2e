"""The sync itself, from exports and inventory to written records: read the devices, decide each
machine's owner and Status, plan, check the guards, apply (engine.py runs them in order)."""
