"""The inbox: a web page where recipients without a system of their own receive and answer referrals."""
