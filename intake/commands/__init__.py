"""The command line: parsing in cli, and every command that people and cron run."""
