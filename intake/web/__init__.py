"""The reviewers' workspace: a server-rendered web application over the intake's database."""
