from tsukeku.cli import main

main()
