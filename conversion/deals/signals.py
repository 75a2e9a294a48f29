"""In-process signals of deals, sent inside the writing transaction (like conversion.signals):

- opportunity_won(opportunity, account, actor)  the referral programme rewards the referrer
- opportunity_lost(opportunity, actor)
- account_enrolled(enrollment)                  an account started onboarding; nurturing's sequences
                                                will start the steps' emails (`sequence_key`) from here
"""

from django.dispatch import Signal

opportunity_won = Signal()
opportunity_lost = Signal()
account_enrolled = Signal()
