from .cli import main

if __name__ == "__main__":   # not again in a process that multiprocessing's spawn starts
    main()
