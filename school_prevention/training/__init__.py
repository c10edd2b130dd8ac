"""Staff training: a catalogue of courses, who completed which and until when, and who is current."""
