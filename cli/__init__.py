"""kefu's command line: argument parsing and the commands that need no runtime."""
