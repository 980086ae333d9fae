"""The error raised for a sample that cannot be used (bad image, label or pairing)."""


class BadSampleError(Exception):
    """A sample's file is unreadable, missing, or inconsistent with its label.

    ``filename`` is the offending file and ``problem`` says what is wrong with it; both are in the
    message, so a log line is enough to find and fix the file.
    """

    def __init__(self, filename, problem):
        self.filename = str(filename)
        self.problem = problem
        super().__init__(f"{self.filename}: {problem}")

    def __reduce__(self):  # keep (filename, problem) across process boundaries
        return (type(self), (self.filename, self.problem))
