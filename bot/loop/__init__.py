"""The residents' loop: links and numbers checked, 举报 leads, feedback, answers that come later."""
