"""The evaluation: questions with gold papers, the systems compared, metrics and the runner (`paperqa eval`)."""
