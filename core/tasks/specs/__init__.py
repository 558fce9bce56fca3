"""Each task's TaskSpec in a module named after the task, importing no torch: what every list of tasks reads.

The home page and the navigation list the tasks on a server's first page view; reading a spec here costs
milliseconds, where importing the task module (core/tasks/<name>.py: its data loaders, models and PyTorch) costs
seconds. `core.tasks.get_task(name)` imports the task module itself when something trains or evaluates.
"""
