from tiledrizzle.cli import run

run()
