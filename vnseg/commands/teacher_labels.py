"""Cache a teacher's soft labels (work in progress, issue 23)."""


def main(argv=None):
    from vnseg.cli import ArgumentParser
    parser = ArgumentParser(description="Cache a teacher's soft labels of a dataset's scenes")
    parser.parse_args(argv)
    raise NotImplementedError('teacher-labels: work in progress (issue 23)')
