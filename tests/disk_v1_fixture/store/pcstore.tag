pcstore disk store, format family 1
# A pipeline cache written by pcstore: every file in this directory is pcstore's own
# (FORMAT.md names them). Delete the whole directory to clear the cache.
