"""Words the seeded tickets are made of: MSP-style summaries, names, spam phrases."""

from __future__ import annotations

from typing import Final

FIRST_NAMES: Final = (
    "Adam", "Amelia", "Aisha", "Ben", "Chloe", "Daniel", "Emma", "Ethan", "Fatima", "George",
    "Grace", "Hannah", "Harry", "Isla", "Jack", "James", "Jessica", "Kai", "Laura", "Liam",
    "Lucy", "Mark", "Mia", "Noah", "Olivia", "Omar", "Priya", "Rachel", "Ryan", "Sam",
    "Sophie", "Tom", "Zara", "Leo", "Nina", "Oscar", "Ruby", "Victor", "Yusuf", "Ellie",
)  # fmt: skip
LAST_NAMES: Final = (
    "Adams", "Baker", "Brown", "Clarke", "Collins", "Cooper", "Davis", "Edwards", "Green",
    "Hall", "Harris", "Hughes", "Jackson", "Jones", "King", "Lewis", "Martin", "Moore",
    "Morris", "Patel", "Phillips", "Roberts", "Robinson", "Scott", "Shaw", "Smith", "Taylor",
    "Thomas", "Turner", "Walker", "Ward", "Watson", "White", "Wilson", "Wood", "Wright",
    "Young", "Khan", "Singh", "Murphy",
)  # fmt: skip

# category value -> (summaries, is a service request)
SUMMARIES: Final[dict[str, tuple[tuple[str, ...], bool]]] = {
    "Hardware>Laptop": ((
        "Laptop won't power on", "Laptop screen flickering", "Laptop battery not charging",
        "Keyboard keys not working on laptop", "Docking station not detecting laptop",
        "Laptop very hot and fan constantly running",
    ), False),
    "Hardware>Desktop": ((
        "PC very slow to start", "Blue screen on boot", "Second monitor not detected",
        "PC making a loud fan noise", "Desktop won't wake from sleep",
    ), False),
    "Hardware>Printer": ((
        "Printer offline on 2nd floor", "Paper jam in main office printer",
        "Cannot print to the reception printer", "Scan to email not working",
        "Printer printing blank pages", "Add new printer for accounts team",
    ), False),
    "Hardware>Phone": ((
        "Desk phone has no dial tone", "Mobile phone not syncing email",
        "New mobile phone setup", "Headset not working with Teams calls",
    ), False),
    "Software>Microsoft 365": ((
        "Outlook keeps asking for password", "Need O365 licence for new user",
        "Teams meetings dropping", "OneDrive not syncing", "Excel crashes opening shared workbook",
        "SharePoint site access request", "Microsoft 365 licence renewal query",
    ), False),
    "Software>Line of Business": ((
        "Sage won't open after update", "Xero bank feed not importing", "CRM login error",
        "Accounts package licence expired", "Stock system running slowly",
    ), False),
    "Software>Antivirus": ((
        "Antivirus alert on workstation", "Defender quarantined a file we need",
        "Antivirus definitions out of date",
    ), False),
    "Network>Wi-Fi": ((
        "Wi-Fi dropping in meeting room", "Guest Wi-Fi password request",
        "Slow wireless in the warehouse",
    ), False),
    "Network>VPN": ((
        "VPN not connecting from home", "VPN disconnects every few minutes",
        "Need VPN access for contractor",
    ), False),
    "Network>Firewall": ((
        "Website blocked by firewall", "Open port for supplier remote access",
        "Firewall firmware update", "Internet down at head office",
    ), False),
    "Accounts>Password Reset": ((
        "Password reset request", "Account locked out", "MFA reset required - new phone",
        "Forgotten password for payroll system",
    ), True),
    "Accounts>New Starter": ((
        "New starter starting Monday", "New starter setup - laptop, email and O365 licence",
        "New starter: please create accounts",
    ), True),
    "Accounts>Leaver": ((
        "Leaver: disable account", "Remove access for departing employee",
        "Leaver - forward mailbox to manager",
    ), True),
    "Email>Exchange Online": ((
        "Shared mailbox access request", "Emails stuck in outbox", "Mailbox full",
        "Distribution list change", "Calendar permissions for PA",
    ), False),
    "Email>Spam and Phishing": ((
        "Suspicious email received - please check", "Reported phishing email",
        "Legitimate emails going to junk",
    ), False),
}  # fmt: skip

RETIRED_SUMMARIES: Final[dict[str, tuple[str, ...]]] = {
    "Hardware>Fax": ("Fax machine not receiving", "Fax to email stopped working"),
    "Software>Office 2016": ("Office 2016 activation error", "Word 2016 crashes on startup"),
    "Email>Exchange On-Premises": (
        "Exchange server mailbox database full",
        "OWA not loading on the on-prem server",
    ),
    "Network>Dial-up": ("Dial-up backup line not connecting", "Backup modem keeps beeping"),
}

NEWSLETTER_SENDERS: Final = (
    ("Promo Mailer Offers", "offers@promo-mailer.example"),
    ("Promo Mailer Deals", "deals@promo-mailer.example"),
    ("Weekly News", "newsletter@news.example"),
    ("News Digest", "digest@news.example"),
)
NEWSLETTER_SUMMARIES: Final = (
    "Your weekly digest",
    "50% off this week only",
    "Don't miss our summer sale",
    "Your monthly newsletter is here",
    "Last chance: exclusive offers inside",
)
BOUNCE_SENDERS: Final = (
    "mailer-daemon@mail.outbound.example",
    "postmaster@mx1.mailhost.example",
    "mailer-daemon@relay.example",
    "postmaster@smtp.partner.example",
)
BOUNCE_PREFIXES: Final = ("Undeliverable: ", "Delivery Status Notification (Failure)")
AUTOREPLY_PREFIXES: Final = ("Automatic reply: ", "Out of Office: ")
PHISHING_SENDERS: Final = (
    ("Billing Notice", "billing@billing-notice.example"),
    ("Accounts Receivable", "accounts@invoices-secure.example"),
)
PHISHING_SUMMARIES: Final = (
    "Invoice #{n} overdue - action required",
    "Final notice: Invoice #{n} unpaid",
    "Payment failed for invoice #{n} - action required",
)

LOOKALIKE_OOO: Final = "How do I set up an out of office reply in Outlook?"
LOOKALIKE_AUTOREPLY: Final = "Re: Automatic reply settings not working after migration"
LOOKALIKE_UNDELIVERABLE: Final = "Emails to our supplier are coming back undeliverable"
LOOKALIKE_INVOICE: Final = "Invoice #1234 from our supplier not received"

DETAILS: Final = (
    "Hi, {summary}. Could someone take a look please? Thanks, {first}",
    "Hello support, {summary} since this morning. It is affecting my work. Regards, {first}",
    "{summary}. Tried restarting, no change. {first}",
    "Hi team, {summary} - can you call me back? Cheers, {first}",
)
