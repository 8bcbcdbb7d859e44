"""The shipped data files (the activity plan and unit costs) the reports read by default."""
