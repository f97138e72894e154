package view

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// terminal reports whether w is a terminal, and its file descriptor.
func terminal(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// useColor colours only terminals, so that pipes and files get plain text,
// and lets the user opt out with --no-color, NO_COLOR or TERM=dumb.
func useColor(w io.Writer, noColor bool) bool {
	if noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	_, tty := terminal(w)
	return tty
}

// terminalWidth is the width of the terminal w writes to; 0 when unknown.
func terminalWidth(w io.Writer) int {
	fd, tty := terminal(w)
	if !tty {
		return 0
	}
	cols, _, err := term.GetSize(fd)
	if err != nil {
		return 0
	}
	return cols
}

var ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// screenLines is how many terminal rows text takes, counting lines the
// terminal wraps, so that a redraw moves the cursor back far enough.
func screenLines(text string, width int) int {
	n := 0
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		cols := utf8.RuneCountInString(ansiCodes.ReplaceAllString(line, ""))
		if width <= 0 || cols <= width {
			n++
			continue
		}
		n += (cols + width - 1) / width
	}
	return n
}

// screen shows successive frames: on a terminal each replaces the previous
// one in place; elsewhere (a pipe, a log) frames follow each other,
// separated by a blank line, because cursor codes would garble the file.
type screen struct {
	w      io.Writer
	tty    bool
	width  func() int
	lines  int
	frames int
}

func newScreen(w io.Writer) *screen {
	_, tty := terminal(w)
	return &screen{w: w, tty: tty, width: func() int { return terminalWidth(w) }}
}

// show draws frame, replacing the previous one on a terminal.
func (s *screen) show(frame string) error {
	var b strings.Builder
	if s.frames > 0 {
		if s.tty {
			// Back to the first row of the last frame, then erase to the
			// end of the screen; the new frame is written over it.
			b.WriteString("\r")
			if s.lines > 0 {
				b.WriteString("\x1b[" + strconv.Itoa(s.lines) + "A")
			}
			b.WriteString("\x1b[J")
		} else {
			b.WriteString("\n")
		}
	}
	b.WriteString(frame)
	s.frames++
	s.lines = screenLines(frame, s.width())
	_, err := io.WriteString(s.w, b.String())
	return err
}
