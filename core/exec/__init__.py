"""Where runs execute: the job queue, worker processes, Ray, the torchrun launcher."""
