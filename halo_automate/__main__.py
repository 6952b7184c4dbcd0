from halo_automate.cli import main

main()
