"""datacurate plugin: IFD (Cherry LLM), Superfiltering and Superfiltering.D selection."""

__version__ = "0.1.0"
