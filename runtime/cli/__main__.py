from runtime.cli import run

run()
