"""Bright Kitchen detector (智能抓拍): batched inference behind gRPC, tracking, voting, evidence."""
