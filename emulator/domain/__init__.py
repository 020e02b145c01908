"""The emulator's domain: plain Python, no HTTP. Handlers call it; it raises typed errors."""
