-- id varchar, symbol varchar, name varchar
('1', 'USD', 'US Dollar'),
('2', 'GBP', 'British pound'),
('3', 'CAD', 'Canadian Dollar'),
('4', 'EUR', 'Euro'),
('5', 'INR', 'Indian Rupee')
