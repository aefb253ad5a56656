"""The PAN-OS side: the one transport, the one job poller, the pan-os-python schema, device facts."""
