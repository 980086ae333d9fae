"""Dataset converters: raw downloads -> the mmseg layouts the datasets read."""
