"""The inventory the job keeps in step: the Inventory protocol and its implementations."""
