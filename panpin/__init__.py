"""panpin: pinned-certificate sites from the PAN-OS Decryption log to the SSL Decryption Exclusion list."""

__version__ = "0.1.0"
