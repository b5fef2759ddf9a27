"""The ops dashboard (`GET /ops`): server-rendered HTML with inline SVG charts, no scripts, no CDN."""
