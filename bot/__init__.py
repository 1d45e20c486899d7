"""briefbot: the Discord bot, its local console and the `briefbot` command line."""
