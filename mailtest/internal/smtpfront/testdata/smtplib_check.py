"""Cross-checks mailrig's SMTP front-end with Python's standard smtplib.

Usage: smtplib_check.py HOST PORT CAFILE. Prints one line per step.
"""
import smtplib
import ssl
import sys

host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]

with smtplib.SMTP(host, port, timeout=10) as s:
    s.ehlo("py.example")
    code, msg = s.docmd("DATA")
    print(f"data: {code} {msg.decode()}")
    try:
        s.data("Subject: never\r\n\r\nnever\r\n")
    except smtplib.SMTPDataError as e:
        print(f"SMTPDataError: {e.smtp_code} {e.smtp_error.decode()}")
    ctx = ssl.create_default_context(cafile=cafile)
    code, _ = s.starttls(context=ctx)
    print(f"starttls: {code}")
    refused = s.sendmail("py@example.com", ["bob@example.com"],
                         "Subject: from smtplib\r\n\r\nhello\r\n")
    print(f"sendmail: {refused}")
