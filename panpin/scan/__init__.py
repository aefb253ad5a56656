"""Stage 1, scan: Decryption log entries (device, CSV export) into per-host evidence."""
