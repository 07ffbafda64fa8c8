"An example third-party datacurate plugin: keyword hits as a score, the records with the most hits as a selection."
__version__ = "0.1.0"
