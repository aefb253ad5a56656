"""Stages 3 and 4, plan and apply: the plan document, the change lifecycle, the journal."""
