"""The bottom layer of fourtops: what every other package may import (exceptions, small
numerical helpers). It imports nothing of the project."""
