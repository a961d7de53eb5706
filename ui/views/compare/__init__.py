"""The compare page: one prompt, several contenders side by side, and the vote."""
