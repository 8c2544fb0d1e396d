"""The board under test: its ports (power, console, link) and their implementations."""
