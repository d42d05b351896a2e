"""The SOS inventory API, the first Inventory implementation."""
