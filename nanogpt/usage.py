"""--help of the data scripts: their description as written, and every option's default after its help."""
import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends (default: X) to each option's help, unless the default is None or False (an option not given)."""

    def _get_help_string(self, action):
        text = action.help or ''
        if (action.option_strings and action.default is not None and action.default is not False
                and action.default != argparse.SUPPRESS and '%(default)' not in text):
            text += ' (default: %(default)s)'
        return text
