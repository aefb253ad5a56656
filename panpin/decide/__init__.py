"""Stage 2, decide: the reviewed policy and the pure decision over evidence."""
