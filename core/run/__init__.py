"""One run: its settings (the settings table), the trainer, the experiment and the run store."""
