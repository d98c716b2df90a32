"""The pure core: evaluation of a rule set over a snapshot, and the executor of its decisions."""
