"""The course's char-RNN training loop, as written there: benchmarks/charrnn.py times it against the project's.

A Dataset that builds one-hot rows in a Python loop per sample, many-to-one windows of 10 characters, a DataLoader
with batch 8, nn.RNN hidden 64 + Linear on the last hidden state, Adam 1e-3.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class CourseDataset(Dataset):
    def __init__(self, text: str, vocab: list[str], seq_length: int = 10):
        self.text, self.vocab, self.seq_length = text, vocab, seq_length
        self.char_to_idx = {ch: i for i, ch in enumerate(vocab)}

    def __len__(self) -> int:
        return len(self.text) - self.seq_length

    def __getitem__(self, idx: int):
        x = torch.zeros(self.seq_length, len(self.vocab))
        for i, ch in enumerate(self.text[idx:idx + self.seq_length]):  # one-hot row by row
            x[i, self.char_to_idx[ch]] = 1
        return x, self.char_to_idx[self.text[idx + self.seq_length]]


class CourseModel(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 64):
        super().__init__()
        self.rnn = nn.RNN(vocab_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, vocab_size)

    def forward(self, x):
        _, h = self.rnn(x)
        return self.fc(h[-1])


def course_targets_per_second(text: str, vocab: list[str], seconds: float) -> float:
    torch.manual_seed(0)
    model = CourseModel(len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(CourseDataset(text, vocab), batch_size=8, shuffle=True)
    start, targets = time.perf_counter(), 0
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        targets += len(y)
        if time.perf_counter() - start > seconds:
            break
    return targets / (time.perf_counter() - start)
