from kstreamy_cli.main import main

main()
